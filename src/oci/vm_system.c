/*
 * The system-VM kind of container (annotation run.kiln.vm=system, or the
 * spec's "vm" section): a kiln system VM boots kiln's kernel, mounts the
 * bundle's rootfs as / over virtio-9p and runs process.args as its workload,
 * like Kata. That needs `kiln run --rootfs DIR -- CMD` (being built on its
 * own); until it is wired here, such a container is refused at create so an
 * engine never gets a process VM it did not ask for.
 */
#include "oci/log.h"
#include "oci/oci.h"

int oci_system_create(const char *root, const struct oci_create_opts *o)
{
    (void)root;
    oci_err("container %s: run.kiln.vm=system (a system-VM container) is not supported yet; "
            "use the default process VM", o->id);
    return 1;
}
