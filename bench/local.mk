# bench: kernel benchmarks behind `mfr bench` (see bench/README.md).
# The peers (OpenBLAS, BLIS, oneDNN) are linked into the mfr command only,
# never into libmfr, and only when configured --with-openblas/--with-blis/--with-dnnl.
noinst_LTLIBRARIES += libmfrbench.la
libmfrbench_la_SOURCES = bench/bench.h bench/bench_common.c bench/bench_gemm.c bench/bench_conv.c \
	bench/peer_openblas.c bench/peer_blis.c bench/peer_dnnl.c bench/peer_dnnl_net.c
libmfrbench_la_CFLAGS = $(AM_CFLAGS) $(PEER_CFLAGS)
mfr_SOURCES += src/cli/bench_model.c
# libmfrbench uses libmfr: list the library again after it (static link order).
mfr_LDADD += libmfrbench.la $(MFR_LINK_LIBS) $(PEER_LIBS)
EXTRA_DIST += bench/README.md bench/nets/pointwise-16x4.cfg bench/nets/pointwise-64x6.cfg

# The statistics of the bench tables (paired ratios); no timing is asserted.
check_PROGRAMS += tests/test_bench
tests_test_bench_SOURCES = tests/test_bench.c tests/testutil.c tests/testutil.h
tests_test_bench_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_bench_LDADD = libmfrbench.la $(TEST_LINK_LIBS) $(PEER_LIBS)
tests_test_bench_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_bench
