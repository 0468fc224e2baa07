# src/nn/kernels: GEMM, convolution, depthwise and activation kernels.
# The SIMD kernels live in convenience libraries compiled with their ISA's
# flags; the rest of the library is compiled for the baseline and dispatches
# at run time (mfr_isa_best()).
pkginclude_HEADERS += include/mfr/kernels.h
noinst_HEADERS += src/nn/kernels/gemm_internal.h src/nn/kernels/gemm_pack.h src/nn/kernels/dwconv.h \
	src/nn/kernels/simd_act.h src/nn/kernels/dwconv_simd.h src/nn/kernels/gemm_pack_conv.h \
	src/nn/kernels/convsmall.h src/nn/kernels/convsmall_simd.h \
	src/nn/kernels/dwconv_bwd_simd.h src/nn/kernels/chanpass.h src/nn/kernels/chanpass_simd.h \
	src/nn/kernels/spatial.h src/nn/kernels/spatial_simd.h \
	src/nn/kernels/vec_avx2.h src/nn/kernels/vec_avx512.h
libmfr_la_SOURCES += \
	src/nn/kernels/act.c src/nn/kernels/gemm.c src/nn/kernels/gemm_pack.c \
	src/nn/kernels/gemm_reference.c src/nn/kernels/gemm_ukernel_scalar_4x8.c \
	src/nn/kernels/conv.c src/nn/kernels/dwconv_scalar.c src/nn/kernels/convsmall_scalar.c \
	src/nn/kernels/dwconv_backward.c src/nn/kernels/conv_backward.c src/nn/kernels/chanpass.c \
	src/nn/kernels/spatial.c

if HAVE_AVX2
noinst_LTLIBRARIES += libmfr_avx2.la
libmfr_avx2_la_SOURCES = src/nn/kernels/gemm_ukernel_avx2_6x16.c src/nn/kernels/dwconv_avx2.c \
	src/nn/kernels/convsmall_avx2.c src/nn/kernels/chanpass_avx2.c src/nn/kernels/spatial_avx2.c
libmfr_avx2_la_CFLAGS = $(AM_CFLAGS) $(AVX2_CFLAGS)
libmfr_la_LIBADD += libmfr_avx2.la
endif

if HAVE_AVX512
noinst_LTLIBRARIES += libmfr_avx512.la
libmfr_avx512_la_SOURCES = src/nn/kernels/gemm_ukernel_avx512_14x32.c src/nn/kernels/dwconv_avx512.c \
	src/nn/kernels/convsmall_avx512.c src/nn/kernels/chanpass_avx512.c src/nn/kernels/spatial_avx512.c
libmfr_avx512_la_CFLAGS = $(AM_CFLAGS) $(AVX512_CFLAGS)
libmfr_la_LIBADD += libmfr_avx512.la
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_kernels
tests_test_kernels_SOURCES = tests/test_kernels.c tests/testutil.c tests/testutil.h
tests_test_kernels_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_kernels_LDADD = $(TEST_LINK_LIBS)
tests_test_kernels_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_kernels
endif
