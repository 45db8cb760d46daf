import Foundation
import XCTest

/// `loupe run FILE --html OUT` pages, opened in headless Chromium: every image decodes, each
/// output follows its own code, small images are enlarged and titled with their shape.
/// Scripts/test installs Chromium and sets LOUPE_BROWSER_TESTS=1, which makes a missing browser a
/// failure; elsewhere these tests are skipped when no browser is installed.
final class NotebookPageTests: XCTestCase {
    static let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "loupe-page-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func requireBrowser() throws -> String {
        if let browser = Self.browser { return browser }
        if ProcessInfo.processInfo.environment["LOUPE_BROWSER_TESTS"] == "1" {
            XCTFail("LOUPE_BROWSER_TESTS=1 but no chromium is installed (Scripts/setup --browser installs it)")
        }
        throw XCTSkip("no chromium installed")
    }

    /// Runs a program and returns its exit status and standard output.
    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = REPLTests.repositoryRoot
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = directory
        environment["LOUPE_HOME"] = directory
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Standard error is drained on its own thread, so neither pipe can fill and block the child.
        final class Drained: @unchecked Sendable { var data = Data() }
        let errors = Drained()
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errors.data = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        let e = errors.data
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// What the page's DOM says once loaded in Chromium: per cell its code and output text, and
    /// per image whether it decoded, its natural and drawn width, and its caption.
    struct PageCheck: Decodable {
        struct CellInfo: Decodable { var code: String; var output: String; var outputAfterCode: Bool; var title: String }
        struct ImageInfo: Decodable { var decoded: Bool; var naturalWidth: Int; var width: Int; var caption: String; var cell: Int }
        var cells: [CellInfo]
        var images: [ImageInfo]
    }

    func loadInBrowser(_ pagePath: String) throws -> PageCheck {
        let browser = try requireBrowser()
        // The page itself has no script: a copy gets one that reports the DOM as JSON.
        let probe = """
        <script>
        window.addEventListener('load', () => {
          const cells = [...document.querySelectorAll('div.cell')].map(c => {
            const code = c.querySelector('pre.code'), out = c.querySelector('pre.out'), h = c.querySelector('h2');
            return {code: code ? code.textContent : '', output: out ? out.textContent : '', title: h ? h.textContent : '',
                    outputAfterCode: !out || (!!code && !!(code.compareDocumentPosition(out) & Node.DOCUMENT_POSITION_FOLLOWING))};
          });
          const cellOf = img => [...document.querySelectorAll('div.cell')].indexOf(img.closest('div.cell'));
          const images = [...document.images].map(i => ({decoded: i.complete && i.naturalWidth > 0, naturalWidth: i.naturalWidth,
            width: i.width, caption: (i.closest('figure')?.querySelector('figcaption')?.textContent) || '', cell: cellOf(i)}));
          const pre = document.createElement('pre');
          pre.id = 'page-check';
          pre.textContent = JSON.stringify({cells, images});
          document.body.appendChild(pre);
        });
        </script>
        """
        let page = try String(contentsOfFile: pagePath, encoding: .utf8)
        let probed = directory + "/probed.html"
        try page.replacingOccurrences(of: "</body>", with: probe + "</body>").write(toFile: probed, atomically: true, encoding: .utf8)
        let result = try run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory)/chromium",
                                       "--virtual-time-budget=5000", "--dump-dom", "file://\(probed)"])
        XCTAssertEqual(result.status, 0, result.err)
        guard let start = result.out.range(of: "<pre id=\"page-check\">"),
              let end = result.out.range(of: "</pre>", range: start.upperBound..<result.out.endIndex) else {
            throw XCTSkip("the browser did not run the page's probe: \(result.out.prefix(300)) \(result.err.prefix(300))")
        }
        let json = String(result.out[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        return try JSONDecoder().decode(PageCheck.self, from: Data(json.utf8))
    }

    func testTourPageInChromium() throws {
        _ = try requireBrowser()
        let page = directory + "/tour.html"
        let result = try run(Terminal.loupeBinary, ["run", "Examples/tour.loupe", "--html", page])
        XCTAssertEqual(result.status, 0, result.err)
        let check = try loadInBrowser(page)
        XCTAssertEqual(check.cells.map(\.title), ["", "Tensors", "An image: load, transform, save", "A gradient",
                                                  "A tiny optimisation with a progress bar", "A model: predict and look inside",
                                                  "Back to pixels: what does each block keep?"])
        XCTAssertTrue(check.cells.allSatisfy(\.outputAfterCode), "an output above its code")
        XCTAssertEqual(check.images.count, 2)
        XCTAssertTrue(check.images.allSatisfy(\.decoded), "an image does not decode: \(check.images)")
        XCTAssertEqual(check.images.map(\.cell), [2, 6], "each image in the cell that showed it")
        // Each output follows its own code: the lines a cell prints are in that cell.
        func cell(containing code: String) throws -> PageCheck.CellInfo {
            try XCTUnwrap(check.cells.first { $0.code.contains(code) }, "no cell with \(code)")
        }
        XCTAssertTrue(try cell(containing: "grad(energy").output.contains("gradient of |v|^2 / 2 at [1, -2, 3]: [1, -2, 3]"))
        XCTAssertTrue(try cell(containing: "predict(m, shoe").output.contains("prediction for the first test image:"))
        XCTAssertFalse(try cell(containing: "grad(energy").output.contains("prediction"))
        XCTAssertTrue(try cell(containing: "dataset(\"fashion-mnist\"").output.contains("Fashion-MNIST test images: [10000, 1, 28, 28]"))
    }

    func testSmallImagesAreEnlargedAndTitledAndBareExpressionsShow() throws {
        _ = try requireBrowser()
        let script = directory + "/small.loupe"
        try """
        seed(1)
        img = rand(1, 28, 28)
        show(img)

        fn twice(v)
          r = v * 2

          return r
        end
        twice(21)

        rgb = rand(3, 8, 200)
        show(rgb)
        "last value"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let page = directory + "/small.html"
        let result = try run(Terminal.loupeBinary, ["run", script, "--html", page])
        XCTAssertEqual(result.status, 0, result.err)
        let check = try loadInBrowser(page)
        XCTAssertEqual(check.cells.count, 3, "split at blank lines between statements, not inside the function: \(check.cells.map(\.code))")
        XCTAssertEqual(check.cells[1].output, "42", "a cell shows its last expression's value")
        XCTAssertEqual(check.cells[2].output.split(separator: "\n").last, "\"last value\"")
        XCTAssertEqual(check.images.count, 2)
        XCTAssertTrue(check.images.allSatisfy(\.decoded))
        XCTAssertEqual(check.images[0].caption, "[1, 28, 28]")
        XCTAssertEqual(check.images[0].naturalWidth, 28)
        XCTAssertEqual(check.images[0].width, 112, "28 px drawn 4x")
        XCTAssertEqual(check.images[1].caption, "[3, 8, 200]")
        XCTAssertEqual(check.images[1].width, 200, "wide images stay as they are")
    }

    func testBinaryAndNonUTF8ScriptsAreRefused() throws {
        let binary = directory + "/binary.loupe"
        try Data([0x70, 0x72, 0x00, 0x01]).write(to: URL(fileURLWithPath: binary))
        var result = try run(Terminal.loupeBinary, ["run", binary])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.err.contains("is a binary file, not a Loupe script (a NUL byte at offset 2)"), result.err)
        let latin1 = directory + "/latin1.loupe"
        try Data(Array("print(\"caf".utf8) + [0xE9] + Array("\")\n".utf8)).write(to: URL(fileURLWithPath: latin1))
        result = try run(Terminal.loupeBinary, ["run", latin1])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.err.contains("is not UTF-8 text, so not a Loupe script (an invalid byte at offset 10)"), result.err)
    }
}
