#include <stdio.h>
#include "distro/distro.h"
int main(void) {
    dt_device *dev;
    if (dt_device_open("cpu", &dev) != DT_OK) {
        fprintf(stderr, "%s\n", dt_last_error());
        return 1;
    }
    printf("%s\n", dt_device_get_info(dev)->name);
    dt_device_close(dev);
    return 0;
}
