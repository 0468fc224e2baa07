# fuzz: libFuzzer targets (--enable-fuzzing)
