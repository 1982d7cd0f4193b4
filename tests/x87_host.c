/* The host-CPU oracle of tests/test_x87.py: runs x87 code on this machine's
   own FPU.  Reads records (u32 length, that many code bytes, 256 data
   bytes) from stdin; calls each code with the data's address in rdi (the
   code returns with the x87 stack empty: it ends with FNSAVE); writes the
   256 data bytes back. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    static uint8_t data[256] __attribute__((aligned(16)));
    uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t n;
    if (code == MAP_FAILED)
        return 2;
    while (fread(&n, 4, 1, stdin) == 1) {
        if (n > 4000 || fread(code, 1, n, stdin) != n || fread(data, 1, 256, stdin) != 256)
            return 1;
        code[n] = 0xC3;                                   /* ret */
        ((void (*)(uint8_t *))code)(data);
        fwrite(data, 1, 256, stdout);
    }
    return 0;
}
