import FuzzDriver

runFuzzer(fuzzSession)
