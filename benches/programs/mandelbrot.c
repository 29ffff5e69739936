// C kernel: the Mandelbrot set on a 1200x1200 grid, at most 1000 iterations a point,
// in one activation of `main`. Prints the number of points inside and a checksum of
// the iteration counts.

#include <stdint.h>
#include <stdio.h>

#define SIZE 1200
#define MAX_ITER 1000

int main(void) {
    uint32_t inside = 0, checksum = 0;
    for (int py = 0; py < SIZE; py++) {
        double ci = -1.5 + 3.0 * py / SIZE;
        for (int px = 0; px < SIZE; px++) {
            double cr = -2.0 + 3.0 * px / SIZE;
            double zr = 0.0, zi = 0.0;
            int n = 0;
            while (n < MAX_ITER && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                n++;
            }
            if (n == MAX_ITER) inside++;
            checksum = checksum * 33 + (uint32_t)n;
        }
    }
    printf("%dx%d, %u points inside, checksum %08x\n", SIZE, SIZE, inside, checksum);
    return 0;
}
