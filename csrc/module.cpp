// bootvid._C: importing it loads this library, whose static initialisers register the ops
// (TORCH_LIBRARY) with the dispatcher. It needs no Python bindings of its own.
#include <Python.h>

#include "bootvid/kernels.h"

static struct PyModuleDef bootvid_c_module = {PyModuleDef_HEAD_INIT, "_C",
                                              "bootvid's compiled kernels (ops live in torch.ops.bootvid)",
                                              -1, nullptr};

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  PyObject* m = PyModule_Create(&bootvid_c_module);
  if (m == nullptr) return nullptr;
#ifdef BOOTVID_WITH_CUDA
  PyModule_AddIntConstant(m, "with_cuda", 1);
#else
  PyModule_AddIntConstant(m, "with_cuda", 0);
#endif
  // Which copy of the CPU norm kernels runs here (tests and benchmarks report it).
  PyModule_AddStringConstant(m, "cpu_isa", bootvid::cpu_isa_name());
  return m;
}
