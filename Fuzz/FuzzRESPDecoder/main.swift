import FuzzDriver

runFuzzer(fuzzRESPDecoder)
