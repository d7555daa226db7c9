# Shell helpers the Ops scripts share. Source it: . "$(dirname "$0")/lib.sh"

# Prints a TCP port on 127.0.0.1 that is free now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 10 seconds for something to listen on 127.0.0.1:$1.
wait_for_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Processes a script started (append with `pids+=($!)`) and its temporary folder $work,
# both removed on exit once the script runs `trap stop_started EXIT`.
pids=()
stop_started() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "${work:?}"
}

# Creates tenant $3 on the crmgate listening on port $2 with data dir $1 (its admin.key) and
# prints "key-id secret" of a new owner key. $4 is the CA, by default the development one in $1.
tenant_key() {
    local admin_id admin_secret
    read -r admin_id admin_secret <"$1/admin.key"
    local cli=(redis-cli --tls --cacert "${4:-$1/tls/ca.pem}" --no-auth-warning -p "$2" --user "$admin_id" --pass "$admin_secret")
    "${cli[@]}" TENANT.CREATE "$3" >/dev/null
    "${cli[@]}" KEY.CREATE "$3" owner | paste -sd' '
}

# Prints the "tenant key-id secret" lines of the tenants a crmgate-load journal ($1) set up: the
# --keys file format.
journal_keys() {
    python3 -c 'import json, sys
for tenant in json.load(open(sys.argv[1]))["tenants"]: print(tenant["name"], tenant["keyID"], tenant["secret"])' "$1"
}

# Prints, as RESP commands, Ops/bench's data for one tenant: $2 partner companies (co0000, ...) with
# 500 of SKU-0..SKU-4 each and a reorder rule (MIN 100 MAX 1000 MULTIPLE 50), then $1 contacts
# (ext c000000000000, ..., a third each subscriber, lead and customer). Send it with redis-cli --pipe.
bench_seed() {
    python3 - "$1" "$2" <<'PY'
import sys
contacts, companies = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
def command(*words):
    out.write(f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words))
for i in range(companies):
    command("COMPANY.ADD", "name", f"Company {i}", "ext", f"co{i:04d}", "stage", "partner")
for i in range(companies):
    for s in range(5):
        command("INV.SET", f"co{i:04d}", f"SKU-{s}", "500")
        command("INV.RULE", f"co{i:04d}", f"SKU-{s}", "MIN", "100", "MAX", "1000", "MULTIPLE", "50")
for i in range(contacts):
    command("CONTACT.ADD", "ext", f"c{i:012d}", "email", f"seed{i}@example.com", "first_name", f"First{i}",
            "last_name", f"Last{i % 500}", "lifecycle", ["subscriber", "lead", "customer"][i % 3],
            "notes", f"account note {i} quarterly review")
PY
}
