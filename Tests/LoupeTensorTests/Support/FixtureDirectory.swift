import LoupeTestSupport

/// This target's committed fixtures (Tests/<Target>/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
