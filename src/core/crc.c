/* CRC-32 through zlib. */
#include "config.h"
#include "mfr/core.h"

#include <zlib.h>

uint32_t mfr_crc32(uint32_t crc, const void *data, size_t size)
{
    const unsigned char *p = data;
    /* zlib takes uInt lengths: feed huge buffers in pieces. */
    while (size > 0) {
        uInt chunk = size > 0x40000000u ? 0x40000000u : (uInt)size;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        size -= chunk;
    }
    return crc;
}
