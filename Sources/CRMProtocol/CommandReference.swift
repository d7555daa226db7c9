import Foundation

/// Renders the command table as the human reference, `Protocols/COMMANDS.md`.
/// `crmgate reference` prints it; a test keeps the committed file in step.
public enum CommandReference {
    /// `sessions` maps a command group to a transcript recorded from a real
    /// server (`Ops/record-sessions`), shown under the group's heading.
    public static func markdown(_ table: CommandTable, sessions: [String: String] = [:]) -> String {
        var text = """
            # crmgate command reference

            Generated from `Protocols/commands.json` by `crmgate reference`; do not edit by hand.
            The wire protocol (framing, limits, errors, reply shapes) is described in `RESP.md`.

            Arity follows Redis: `n` means exactly n words including the command name, `-n` at least n.
            Roles are the key roles that may run a command; `noauth` commands also answer before `AUTH`.

            """
        var groups: [String] = []
        for spec in table.topLevel where !groups.contains(spec.group) {
            groups.append(spec.group)
        }
        for group in groups {
            text += "\n## \(group)\n"
            if let session = sessions[group] {
                text += "\nA session recorded from a real server (`Ops/record-sessions`):\n\n\(session)"
            }
            for spec in table.commands where spec.group == group && spec.subcommands == nil {
                text += "\n### \(spec.name)\n\n\(spec.summary)\n\n"
                text += "```\n\(spec.syntax)\n```\n\n"
                text += "- arity: \(spec.arity)\n"
                text += "- roles: \(spec.roles.map(\.rawValue).joined(separator: ", "))\n"
                if !spec.flags.isEmpty {
                    text += "- flags: \(spec.flags.map(\.rawValue).joined(separator: ", "))\n"
                }
                if let complexity = spec.complexity {
                    text += "- complexity: \(complexity)\n"
                }
                if let example = spec.example {
                    text += "- example: `\(example)`\n"
                }
                if !spec.errors.isEmpty {
                    text += "- errors:\n" + spec.errors.map { "  - `-\($0)`\n" }.joined()
                }
            }
        }
        return text
    }

    /// The transcripts `Ops/record-sessions` wrote to `directory`, by group (`GROUP.md`).
    public static func sessions(in directory: String) throws -> [String: String] {
        var sessions: [String: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".md") {
            sessions[String(file.dropLast(3))] = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
        }
        return sessions
    }
}
