/// How a plain script becomes the cells of a notebook page (`loupe run FILE --html OUT`).
///
/// A file with `# %%` lines (the percent format of Jupytext, VS Code and Spyder) is split at
/// them, and the text after `# %%` titles the cell. Otherwise the script is split at blank
/// lines between top-level statements: a blank line inside a function, loop or `if` does not
/// split it (the group before it must be complete statements). Saved sessions, with `# [n]`
/// markers, keep their own cells (see `SessionFile.parse`).
public enum NotebookCells {
    /// A cell of a notebook page: its title (from `# %% title`, may be empty) and its code.
    public struct Section {
        public var title: String
        public var cell: Cell
    }

    /// The cells of `text`, numbered from 1; `line` is each cell's first code line.
    public static func split(_ text: String) -> [Section] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var sections: [Section] = []
        var code: [String] = []
        var title = ""
        var start = 1

        func close() {
            while let last = code.last, last.trimmingCharacters(in: .whitespaces).isEmpty { code.removeLast() }
            while let first = code.first, first.trimmingCharacters(in: .whitespaces).isEmpty { code.removeFirst(); start += 1 }
            if !code.isEmpty || !title.isEmpty {
                sections.append(Section(title: title, cell: Cell(number: sections.count + 1, code: code.joined(separator: "\n"),
                                                                 output: [], line: start)))
            }
            code = []
            title = ""
        }

        if lines.contains(where: isPercentMarker) {
            for (index, line) in lines.enumerated() {
                if isPercentMarker(line) {
                    close()
                    title = String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces)
                    start = index + 2
                } else {
                    code.append(line)
                }
            }
            close()
            return sections
        }
        for (index, line) in lines.enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty, isComplete(code) {
                close()
                start = index + 2
            } else {
                code.append(line)
            }
        }
        close()
        return sections
    }

    /// `# %%` alone or followed by a space and a title.
    static func isPercentMarker(_ line: String) -> Bool {
        line == "# %%" || line.hasPrefix("# %% ")
    }

    /// Whether `lines` hold only whole statements (they parse on their own): a blank line after
    /// them may end a cell. Lines with nothing but comments count as whole.
    static func isComplete(_ lines: [String]) -> Bool {
        guard lines.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return true }
        return (try? Parser.parse(SourceFile(name: "cell", text: lines.joined(separator: "\n")))) != nil
    }
}
