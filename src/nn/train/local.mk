# src/nn/train: losses, optimisers, schedules, clipping, gradient checking.
pkginclude_HEADERS += include/mfr/train.h
noinst_HEADERS += src/nn/train/train_impl.h
libmfr_la_SOURCES += \
	src/nn/train/reduce.c src/nn/train/loss_ce.c src/nn/train/loss_margin.c \
	src/nn/train/loss_bce.c src/nn/train/loss_reg.c src/nn/train/loss_iou.c \
	src/nn/train/optim.c src/nn/train/schedule.c src/nn/train/clip.c \
	src/nn/train/gradcheck.c

if HAVE_CHECK
check_PROGRAMS += tests/test_train
tests_test_train_SOURCES = tests/test_train.c tests/testutil.c tests/testutil.h
tests_test_train_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_train_LDADD = $(TEST_LINK_LIBS)
tests_test_train_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_train
endif
EXTRA_DIST += tests/train_reference.py

# The generic trainer (loop, prefetch, log, checkpoints, recipe sections) and its suite.
libmfr_la_SOURCES += src/nn/train/trainer.c src/nn/train/trainer_recipe.c src/nn/train/checkpoint.c
if HAVE_CHECK
check_PROGRAMS += tests/test_trainer
tests_test_trainer_SOURCES = tests/test_trainer.c tests/testutil.c tests/testutil.h
tests_test_trainer_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_trainer_LDADD = $(TEST_LINK_LIBS)
tests_test_trainer_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_trainer
endif
EXTRA_DIST += models/embedder.ini models/embedder-masked.ini models/detector.ini models/data-train.ini \
	models/data-scenes.ini models/data-val-faces.ini models/data-val-scenes.ini
