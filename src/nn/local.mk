# src/nn: the network runtime: tensors, ops (one unit each), network
# definitions, compile (fusion, batch-norm folding, memory plan), forward,
# model files. See docs/nn.md.
pkginclude_HEADERS += include/mfr/nn.h
noinst_HEADERS += src/nn/nn_internal.h src/nn/op_affine.h src/nn/memplan.h
EXTRA_DIST += models
libmfr_la_SOURCES += \
	src/nn/tensor.c src/nn/net.c src/nn/netdef.c src/nn/ops.c src/nn/init.c \
	src/nn/model.c src/nn/exec.c src/nn/memplan.c src/nn/grad.c \
	src/nn/op_input.c src/nn/op_conv.c src/nn/op_affine.c src/nn/op_fc.c src/nn/op_bn.c \
	src/nn/op_act.c src/nn/op_pool.c src/nn/op_upsample.c src/nn/op_eltwise.c \
	src/nn/op_concat.c src/nn/op_reshape.c src/nn/op_softmax.c

if HAVE_CHECK
check_PROGRAMS += tests/test_nn
tests_test_nn_SOURCES = tests/test_nn.c tests/testutil.c tests/testutil.h
tests_test_nn_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_nn_LDADD = $(TEST_LINK_LIBS)
tests_test_nn_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_nn
endif

# Fuzz targets, in the pattern of fuzz/local.mk (corpora in fuzz/corpus/NAME).
if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_netdef fuzz/fuzz_model
fuzz_fuzz_netdef_SOURCES = fuzz/fuzz_netdef.c
fuzz_fuzz_netdef_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_netdef_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_netdef_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_model_SOURCES = fuzz/fuzz_model.c
fuzz_fuzz_model_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_model_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_model_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
