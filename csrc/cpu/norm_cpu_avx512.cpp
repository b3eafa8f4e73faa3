// The CPU norm kernels for AVX-512 (F, BW, VL, DQ): norm_cpu_impl.h compiled with -mavx512{f,bw,vl,dq} -mfma and
// CPU_CAPABILITY_AVX512, so its VecOps is 16 fp32 lanes wide here; norm_cpu.cpp picks this
// copy at run time. The kernels live in their own namespace; inline functions of the shared
// headers (ATen, c10) that this file also emits are kept by the linker from the first object
// that has them, and ops.cpp and norm_cpu.cpp (default ISA) come before this file in the
// sources, so no AVX-512 (F, BW, VL, DQ) code runs on a CPU without it.
#define BOOTVID_NORM_ISA avx512
#include "norm_cpu_impl.h"
