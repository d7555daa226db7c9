import CLibEdit
import CRMAdmin
import Foundation

/// The interactive line editor: libedit with history, Ctrl-R search, and
/// completion and hints from ``CommandAssist``.
final class LineEditor {
    private final class Context {
        let assist: CommandAssist
        let width: Int

        init(assist: CommandAssist, width: Int) {
            self.assist = assist
            self.width = width
        }
    }

    private let editor: UnsafeMutablePointer<crm_editor>
    private let context: Unmanaged<Context>

    init?(historyPath: String?, assist: CommandAssist) {
        let context = Unmanaged.passRetained(Context(assist: assist, width: Self.terminalWidth))
        let complete: crm_editor_callback = { pointer, line in
            let context = Unmanaged<Context>.fromOpaque(pointer!).takeUnretainedValue()
            let completion = context.assist.complete(String(cString: line))
            var text = completion.insert
            if !completion.candidates.isEmpty {
                text += "\n" + LineEditor.columns(completion.candidates, width: context.width) + "\n"
            }
            return strdup(text)
        }
        let hint: crm_editor_callback = { pointer, line in
            let context = Unmanaged<Context>.fromOpaque(pointer!).takeUnretainedValue()
            let hint = context.assist.hint(String(cString: line))
            return hint.isEmpty ? nil : strdup(hint)
        }
        guard let editor = crm_editor_open("crmgate-admin", historyPath, context.toOpaque(), complete, hint) else {
            context.release()
            return nil
        }
        self.editor = editor
        self.context = context
    }

    deinit {
        crm_editor_close(editor)
        context.release()
    }

    /// The next line, or nil at end of input. The argument hint shown on the
    /// right while typing is wiped from the submitted line, so the scrollback
    /// holds only what was typed.
    func read(prompt: String) -> String? {
        guard let line = crm_editor_read(editor, prompt).map({ String(cString: $0) }) else { return nil }
        let typed = prompt.count + line.count
        let context = context.takeUnretainedValue()
        if !context.assist.hint(line).isEmpty, typed < context.width {
            // Up to the submitted line, past what was typed, erase to its end, and back down.
            print("\u{1B}[A\u{1B}[\(typed + 1)G\u{1B}[K\r\u{1B}[B", terminator: "")
            fflush(nil)
        }
        return line
    }

    func remember(_ line: String) {
        crm_editor_remember(editor, line)
    }

    func save(to path: String) {
        _ = crm_editor_save(editor, path)
    }

    /// Candidates laid out in columns across the terminal, as shells list them.
    static func columns(_ words: [String], width: Int) -> String {
        let cell = (words.map(\.count).max() ?? 0) + 2
        let perLine = max(1, width / cell)
        return stride(from: 0, to: words.count, by: perLine).map { start in
            words[start..<min(words.count, start + perLine)].map {
                $0.padding(toLength: cell, withPad: " ", startingAt: 0)
            }
            .joined().trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    static var terminalWidth: Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
