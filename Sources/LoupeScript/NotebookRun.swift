extension ScriptRunner {
    /// Runs `text` as a notebook page (`loupe run FILE --html OUT`): a saved session keeps its
    /// `# [n]` cells; a plain script is split by `NotebookCells` and each cell shows the value
    /// of its last expression, as the REPL does. Printed output goes to `echo` as it happens.
    /// Returns the report and each cell's title.
    public func runNotebook(text: String, name: String, echo: (String) -> Void) -> (report: Report, titles: [String]) {
        if SessionFile.parse(text).marked {
            let report = run(text: text, name: name, verify: false, echo: echo)
            return (report, report.cells.map { _ in "" })
        }
        var report = Report()
        var titles: [String] = []
        for section in NotebookCells.split(text) {
            let before = interpreter.shownImages.count
            let result = withoutActuallyEscaping(echo) { echo in
                interpreter.runCell(section.cell.code, name: name, display: true, firstLine: section.cell.line, echo: echo)
            }
            var cell = section.cell
            cell.output = result.output
            report.cells.append(cell)
            report.images.append(Array(interpreter.shownImages[before...]))
            titles.append(section.title)
            if let error = result.error {
                report.failure = error.description
                break
            }
        }
        return (report, titles)
    }
}
