/*
 * The results record of the floating-point programs (fp.h), linked into the
 * guest images and the native programs alike; the guest image's copy is at
 * the address fp.json records as "out_address".
 */
#include "fp.h"

u64 fp_out[FP_OUT_MAX];
u32 fp_out_count;
