// The CPU norm kernels for AVX2 + FMA: norm_cpu_impl.h compiled with -mavx2 -mfma -mf16c and
// CPU_CAPABILITY_AVX2, so its VecOps is 8 fp32 lanes wide here; norm_cpu.cpp picks this
// copy at run time. The kernels live in their own namespace; inline functions of the shared
// headers (ATen, c10) that this file also emits are kept by the linker from the first object
// that has them, and ops.cpp and norm_cpu.cpp (default ISA) come before this file in the
// sources, so no AVX2 + FMA code runs on a CPU without it.
#define BOOTVID_NORM_ISA avx2
#include "norm_cpu_impl.h"
