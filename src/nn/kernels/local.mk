# src/nn/kernels: GEMM, convolution, depthwise, elementwise kernels
