/* mfr/mfr.h - everything libmfr offers, one include. */
#ifndef MFR_MFR_H
#define MFR_MFR_H
#include "mfr/core.h"
#include "mfr/img.h"
#include "mfr/kernels.h"
#include "mfr/nn.h"
#include "mfr/train.h"
#include "mfr/eval.h"
#include "mfr/face.h"
#include "mfr/face_train.h"
#endif
