# bench: kernel and model benchmarks
