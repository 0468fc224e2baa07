# src/face: the synthetic masked-face generator (synth/), alignment, the LBP
# baseline; see docs/datasets.md and docs/architecture.md.
pkginclude_HEADERS += include/mfr/face.h
noinst_HEADERS += src/face/synth/synth.h
libmfr_la_SOURCES += \
	src/face/synth/identity.c src/face/synth/head.c src/face/synth/texture.c \
	src/face/synth/mask.c src/face/synth/raster.c src/face/synth/render.c \
	src/face/synth/camera.c src/face/synth/recipe.c src/face/synth/recipe.h \
	src/face/synth/dataset.c src/face/synth/scene.c \
	src/face/synth/photo.c src/face/align.c src/face/lbp.c
noinst_HEADERS += src/face/synth/camera_simd.h src/face/synth/mesh_simd.h src/face/synth/line_simd.h \
	src/face/synth/raster_simd.h

# The camera's loops, the shading's passes, the albedo's skin and scalp and
# the meshes' vertex loops again with -mavx2 (run-time dispatch,
# mfr_isa_best()). Not the kernels' AVX2_CFLAGS: -mfma would let the
# compiler fuse a product and a sum, and the pictures must have the same
# bytes on every CPU. -fno-math-errno lets sqrtf be one instruction in a
# vectorised loop (it changes no value, only errno).
if HAVE_AVX2
noinst_LTLIBRARIES += libmfr_synth_avx2.la
libmfr_synth_avx2_la_SOURCES = src/face/synth/camera_avx2.c src/face/synth/shade_avx2.c \
	src/face/synth/texture_avx2.c src/face/synth/mesh_avx2.c src/face/synth/line_avx2.c \
	src/face/synth/raster_avx2.c
libmfr_synth_avx2_la_CFLAGS = $(AM_CFLAGS) -mavx2 -ffp-contract=off -fno-math-errno
libmfr_la_LIBADD += libmfr_synth_avx2.la
endif
# The rasteriser's triangle loop a third time, with AVX-512 (a small
# triangle's whole box in one register); the same flags' reasoning: no
# contraction of products and sums into fused ones.
if HAVE_AVX512
noinst_LTLIBRARIES += libmfr_synth_avx512.la
libmfr_synth_avx512_la_SOURCES = src/face/synth/raster_avx512.c
libmfr_synth_avx512_la_CFLAGS = $(AM_CFLAGS) $(AVX512_CFLAGS) -ffp-contract=off -fno-math-errno
libmfr_la_LIBADD += libmfr_synth_avx512.la
endif

if HAVE_CHECK
check_PROGRAMS += tests/test_synth
tests_test_synth_SOURCES = tests/test_synth.c tests/testutil.c tests/testutil.h
tests_test_synth_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_synth_LDADD = $(TEST_LINK_LIBS)
tests_test_synth_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_synth
endif

# The detector front-end (decode, NMS, letterbox) and its suite.
libmfr_la_SOURCES += src/face/detect.c
if HAVE_CHECK
check_PROGRAMS += tests/test_detect
tests_test_detect_SOURCES = tests/test_detect.c tests/testutil.c tests/testutil.h
tests_test_detect_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_detect_LDADD = $(TEST_LINK_LIBS)
tests_test_detect_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_detect
endif

# bench/bench_synth: renderer throughput and the LBP calibration embeddings
# (not installed; `make bench/bench_synth`).
EXTRA_PROGRAMS += bench/bench_synth
bench_bench_synth_SOURCES = bench/bench_synth.c
bench_bench_synth_CFLAGS = $(AM_CFLAGS) -DMFR_SRCDIR='"$(abs_top_srcdir)"'
bench_bench_synth_LDADD = $(MFR_LINK_LIBS)
bench_bench_synth_LDFLAGS = $(STATIC_PROG_FLAGS)
CLEANFILES += bench/bench_synth

# The face tasks of the trainer (issue #6): samples, augmentation, detector
# targets, validation; plugged into src/nn/train/trainer.c by callbacks.
pkginclude_HEADERS += include/mfr/face_train.h
libmfr_la_SOURCES += src/face/train_data.c

# The end-to-end pipeline behind `mfr embed` and `mfr run` (docs/run.md):
# batched embedding, the streaming stage and the scoring stage, and its suite.
noinst_HEADERS += src/face/pipeline.h
libmfr_la_SOURCES += src/face/embed.c src/face/pipeline.c src/face/pipeline_eval.c
if HAVE_CHECK
check_PROGRAMS += tests/test_pipeline
tests_test_pipeline_SOURCES = tests/test_pipeline.c tests/testutil.c tests/testutil.h
tests_test_pipeline_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_pipeline_LDADD = $(TEST_LINK_LIBS)
tests_test_pipeline_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_pipeline
endif

# Fuzzing the recipes users write (dataset recipes and training recipes).
if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_recipe
fuzz_fuzz_recipe_SOURCES = fuzz/fuzz_recipe.c
fuzz_fuzz_recipe_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_recipe_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_recipe_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
EXTRA_DIST += fuzz/corpus/recipe
