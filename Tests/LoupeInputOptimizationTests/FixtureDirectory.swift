import LoupeTestSupport

/// This target's committed fixtures (Tests/LoupeInputOptimizationTests/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
