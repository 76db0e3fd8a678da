"""The local AWS emulator and the sample data shared by `make demo`, the tests and the benchmarks."""
