"""visdet's parity suite: goldens written by mmdet/mmcv, differential and live tests.

Importing it pins MKL's code path for the process, before torch computes anything (the root
``conftest.py`` imports it ahead of torch; ``python -m parity.golden`` imports it first): MKL
chooses its kernels by the CPU, whatever ``ATEN_CPU_CAPABILITY`` says, and on AVX-512 CPUs
its float32 and float64 ``exp``/``log``/``sin`` (which torch's CPU ops call) round some values
one ulp away from its AVX2 path. Most cases do not notice; the two-stage Deformable DETR
cases do (mmdet's float32 ``log`` of the encoder proposals reaches every output, and they
differed by up to 1e-8 relative on an AVX-512 machine, in mmdet and visdet alike). Goldens are
written and checked on MKL's AVX2 path (CPUs without AVX2 take MKL's older path, which
``parity.portability``'s oldest-CPU setting checks). A value set in the environment wins.
"""

import os

MKL_INSTRUCTIONS = "AVX2"
os.environ.setdefault("MKL_ENABLE_INSTRUCTIONS", MKL_INSTRUCTIONS)
