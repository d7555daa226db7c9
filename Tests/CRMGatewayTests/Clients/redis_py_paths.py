"""The everyday paths of redis-py against a crmgate tenant, one check a line.

Run by RedisPyTests with: PORT CA KEY_ID SECRET. Prints one line per check,
"ok NAME" or "FAIL NAME: why", and exits non-zero if any check failed.
"""
import sys

import redis

port, ca, key_id, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
failures = 0


def check(name, condition, detail=""):
    global failures
    if condition:
        print(f"ok {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {detail}")


url = f"rediss://{key_id}:{secret}@127.0.0.1:{port}/0"
client = redis.Redis.from_url(url, ssl_ca_certs=ca, decode_responses=True)
other = redis.Redis.from_url(url, ssl_ca_certs=ca, decode_responses=True)
check("url with /0 connects", client.ping() is True and other.ping() is True)

info = client.client_info()
check("client_info has qbuf", "qbuf" in info and "omem" in info and "tot-mem" in info, str(info))
check("lib-name stored from CLIENT SETINFO", info.get("lib-name") == "redis-py", str(info))
check("lib-ver stored", info.get("lib-ver") == redis.__version__, str(info))
check("CLIENT LIST TYPE pubsub filters", client.client_list(_type="pubsub") == [])
check("CLIENT LIST TYPE normal lists both", len(client.client_list(_type="normal")) == 2)
help_lines = client.execute_command("CLIENT", "HELP")
check("CLIENT HELP lists SETINFO", any(str(line).startswith("SETINFO") for line in help_lines), str(help_lines))

try:
    redis.Redis.from_url(url[: -len("/0")] + "/1", ssl_ca_certs=ca).ping()
    check("db 1 refused", False, "connected")
except redis.ResponseError as error:
    check("db 1 refused", "chooses the tenant" in str(error), str(error))

check("CONTACT.ADD", client.execute_command("CONTACT.ADD", "email", "ada@example.com") == 1)


def rename(pipe):
    version = pipe.execute_command("CONTACT.GET", "1")
    pipe.multi()
    pipe.execute_command("CONTACT.SET", "1", "notes", f"seen at version {version[3]}")


result = client.transaction(rename, "contact:1")
check("transaction() with watch applies", result == [2], str(result))

pipe = client.pipeline()
pipe.watch("contact:1")
other.execute_command("CONTACT.SET", "1", "notes", "changed behind the watch")
pipe.multi()
pipe.execute_command("CONTACT.SET", "1", "notes", "lost update")
try:
    pipe.execute()
    check("a changed watched record aborts EXEC", False, "EXEC applied")
except redis.WatchError:
    check("a changed watched record aborts EXEC", True)
notes = client.execute_command("CONTACT.GET", "1")
check("nothing applied", "changed behind the watch" in notes, str(notes))

client.execute_command("CONTACT.ADD", "email", "grace@example.com")
pipe = client.pipeline(transaction=True)
pipe.execute_command("CONTACT.SET", "1", "notes", "rolled back")
pipe.execute_command("CONTACT.SET", "2", "email", "ada@example.com")
try:
    pipe.execute()
    check("failing EXEC names the cause", False, "EXEC applied")
except redis.ResponseError as error:
    check("failing EXEC names the cause", "already" in str(error) and "command 2" in str(error), str(error))

pipe = client.pipeline(transaction=True)
pipe.execute_command("CONTACT.GET", "999")
pipe.execute_command("CONTACT.SET", "2", "notes", "applied")
replies = pipe.execute(raise_on_error=False)
check("a read finding nothing aborts nothing", isinstance(replies[0], redis.ResponseError) and replies[1] == 2,
      str(replies))

check("DBSIZE", client.dbsize() == 2)
memory = client.info("memory")
check("INFO memory", "used_memory" in memory and "maxmemory" in memory, str(memory))
keyspace = client.info("keyspace")
check("INFO keyspace", keyspace.get("db0", {}).get("keys") == 2, str(keyspace))
for command, advice in [(("KEYS", "*"), "FIND"), (("SCAN", "0"), "CURSOR"), (("MONITOR",), "SUBSCRIBE events")]:
    try:
        client.execute_command(*command)
        check(f"{command[0]} refused with advice", False, "answered")
    except redis.ResponseError as error:
        check(f"{command[0]} refused with advice", advice in str(error), str(error))

sys.exit(1 if failures else 0)
