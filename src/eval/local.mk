# src/eval: verification, identification, detection and latency metrics,
# results files and reports (docs/metrics.md). Also the .npy reader/writer in
# src/core, used by the face module for embeddings.
pkginclude_HEADERS += include/mfr/eval.h
noinst_HEADERS += src/eval/eval_internal.h src/eval/verify_internal.h
libmfr_la_SOURCES += src/core/npy.c
libmfr_la_SOURCES += \
	src/eval/stats.c src/eval/dist.c src/eval/json.c src/eval/util.c \
	src/eval/verify.c src/eval/verify_io.c src/eval/verify_write.c src/eval/allpairs.c \
	src/eval/identify.c src/eval/detection.c src/eval/latency.c src/eval/report.c

if HAVE_CHECK
check_PROGRAMS += tests/test_eval
tests_test_eval_SOURCES = tests/test_eval.c tests/testutil.c tests/testutil.h
tests_test_eval_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_eval_LDADD = $(TEST_LINK_LIBS)
tests_test_eval_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_eval
endif

# The all-pairs benchmark: make bench/bench_allpairs
EXTRA_PROGRAMS += bench/bench_allpairs
bench_bench_allpairs_SOURCES = bench/bench_allpairs.c
bench_bench_allpairs_LDADD = $(MFR_LINK_LIBS)
bench_bench_allpairs_LDFLAGS = $(STATIC_PROG_FLAGS)
CLEANFILES += bench/bench_allpairs

if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_scores fuzz/fuzz_npy
fuzz_fuzz_scores_SOURCES = fuzz/fuzz_scores.c
fuzz_fuzz_scores_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_scores_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_scores_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_npy_SOURCES = fuzz/fuzz_npy.c
fuzz_fuzz_npy_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_npy_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_npy_LDADD = $(MFR_LINK_LIBS)
endif
EXTRA_DIST += fuzz/corpus/scores fuzz/corpus/npy
