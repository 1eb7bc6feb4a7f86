/*
 * velocity_hv.h — the whole interface between the Velocity server and a native
 * hypervisor library (the `sim` library in C, the `vz` library in Swift).
 *
 * Conventions
 * - JSON in and out. Every `char *` a function returns is a NUL-terminated UTF-8
 *   JSON document allocated by the library; the caller owns it and must release it
 *   with vhv_free_string(). Functions never return NULL except when allocation
 *   itself failed. No C structs cross the boundary.
 * - Every operation returns an envelope:
 *       {"ok":true,"result":<value>}
 *       {"ok":false,"error":{"code":"<CODE>","message":"<text>"}}
 *   Error codes: INVALID_ARGUMENT, INVALID_CONFIG, NOT_FOUND, ALREADY_EXISTS,
 *   INVALID_STATE, UNSUPPORTED, HYPERVISOR_ERROR, INTERNAL.
 * - VMs are named by the server's id (`vm_id`, a UUID string). The library keeps
 *   whatever handle it needs behind that id.
 * - start, pause, resume, request_stop and stop never block on the guest: they check
 *   the request, return {"ok":true,"result":{"op_id":N}} at once (or an error
 *   envelope when the request is refused outright) and report completion later as
 *   an "op" event carrying the same op_id.
 *
 * Events (one JSON document per callback call)
 *   {"type":"state","seq":N,"vm_id":"…","state":"STARTING"}          state changed
 *   {"type":"op","seq":N,"vm_id":"…","op_id":N,"op":"start","ok":true}
 *   {"type":"op","seq":N,"vm_id":"…","op_id":N,"op":"start","ok":false,
 *        "error":{"code":"HYPERVISOR_ERROR","message":"…"}}           operation finished
 *   {"type":"error","seq":N,"vm_id":"…","error":{"code":"…","message":"…"}}
 *        a hypervisor error outside any operation (the VM stopped with an error)
 *   `seq` increases by one per event, library-wide, so the receiver can check order.
 *   Events that arise while no callback is registered are dropped without using a
 *   seq number. Receivers ignore members they do not know (the sim library adds
 *   "thread": the OS id of the thread that calls back, for diagnostics).
 *   For one VM, a state event is always delivered before the "op" event of the
 *   operation that caused it.
 *   States are the API's: STOPPED STARTING RUNNING PAUSING PAUSED RESUMING STOPPING.
 *   A failed operation leaves the VM in its true state: the library sends a state
 *   event back to the state the VM is really in (e.g. STARTING, then STOPPED), then
 *   the op event with ok:false.
 *   A guest that powers itself off: state STOPPING (may be skipped), then STOPPED.
 *   A VM that stops with an error: state STOPPED, then an "error" event.
 *
 * Threading and ownership
 * - All functions may be called from any thread; the library serializes work per VM.
 * - The event callback is called from a thread of the library's own, never from
 *   inside a call into the library. The library NEVER invokes the callback while
 *   holding a lock, or from a queue that a later call into the library waits on:
 *   koffi delivers a callback made on a foreign thread by queueing it to the
 *   JavaScript thread and blocking the native thread until the handler returns, so
 *   a callback made under a lock that the JS thread then needs would deadlock.
 * - The `event_json` pointer is only valid for the duration of the callback; the
 *   receiver copies it. The library frees it after the callback returns.
 * - After vhv_set_event_callback(NULL) returns, the library makes no further call
 *   to the previous callback. To keep that promise it waits for a call of the
 *   previous callback that is in progress to return, so it must not be called on a
 *   thread that such a call waits for: from Node, call it with koffi's `.async`
 *   (on a libuv worker) so the JavaScript thread stays free to run the handler.
 *   The event thread itself (a callback unregistering itself) does not wait.
 */
#ifndef VELOCITY_HV_H
#define VELOCITY_HV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to a signature or to a JSON shape, and when a
 * function is added that the server calls (a library without it cannot serve it).
 *   2: vhv_guest_addresses; "port_forwards" in the configuration; sim.guest_addresses. */
#define VHV_ABI_VERSION 2

typedef void (*vhv_event_callback)(const char *event_json);

/* The ABI version the library was built with; the server refuses any other. */
int32_t vhv_abi_version(void);

/* Host capabilities:
 *   {"ok":true,"result":{
 *     "driver":"sim"|"vz",
 *     "max_cpu_count":N, "max_memory_mb":N, "min_memory_mb":N,
 *     "max_display_width":N, "max_display_height":N,
 *     "bridge_interfaces":[{"id":"en0","name":"en0","description":"Ethernet"}],
 *     "rosetta":bool, "macos_guests":bool, "screenshots":bool,
 *     "vm_types":["EFI","KBOOT","MAC"]}}
 *   optional: "max_displays":N, where the library allows fewer displays per VM than asked
 *   (vz: 1 for EFI and KBOOT, one virtio-gpu scanout). */
char *vhv_host_capabilities(void);

/* Registers the one event callback (NULL unregisters); see "Threading" about
 * waiting for a call in progress. Returns 0, or -1 when the library cannot start
 * its threads. */
int32_t vhv_set_event_callback(vhv_event_callback callback);

/* Creates a VM in state STOPPED from a configuration:
 *   {"name":"…","type":"EFI"|"KBOOT"|"MAC",
 *    "cpu_count":N,"memory_size_mb":N,
 *    "directory":"/abs/dir",          the VM's own directory: EFI variable store,
 *                                     machine identifier, auxiliary storage live here
 *    "console":{"output":"/abs/file","input":"/abs/fifo"},
 *                                     guest serial output is appended to `output`;
 *                                     bytes written to the FIFO `input` reach the guest
 *    "disks":[{"path":"/abs/img","read_only":bool}],
 *    "nics":[{"type":"NAT"|"BRIDGE"|"FILEHANDLE","mac":"52:54:00:…",
 *             "interface":"en0",        BRIDGE only
 *             "socket":"/abs/sock"}],   FILEHANDLE only: a bound datagram socket path
 *    "displays":[{"width":N,"height":N}],
 *    "rosetta":bool,
 *    "port_forwards":[{"protocol":"tcp"|"udp","host_address":"127.0.0.1",
 *                      "host_port":N,"guest_port":N}],
 *                                     host ports forwarded to the guest through the
 *                                     first NAT NIC; absent or [] for none. A library
 *                                     that cannot forward ports (vz: the framework's NAT
 *                                     has no port forwarding) refuses a non-empty list
 *                                     with UNSUPPORTED; the sim validates and keeps it
 *    "kboot":{"kernel":"/abs","initrd":"/abs"|null,"cmdline":"…"},   KBOOT only
 *    "mac":{"restore_image":"/abs"|null},                            MAC only
 *    "sim":{…}}                       sim library only; ignored by others:
 *        {"time_scale":1.0,           multiplies every transition delay (start 400 ms,
 *                                     pause/resume 50, request_stop 300, stop 50); the
 *                                     environment variable VHV_SIM_TIME_SCALE multiplies
 *                                     it again (tests: 0 = complete at once, still async)
 *         "fail":{"start":"msg","pause":"msg","resume":"msg",
 *                 "request_stop":"msg","stop":"msg"},  make that operation fail
 *         "poweroff_after_ms":N,      the guest powers itself off N ms after boot
 *         "crash_after_ms":N,         the VM stops with a hypervisor error
 *                                     (both counted in unscaled ms of RUNNING time)
 *         "guest_addresses":["…"]}    what vhv_guest_addresses reports for the first
 *                                     NIC while the VM is RUNNING (needs a NIC)
 * Result: {"vm_id":"…","state":"STOPPED"}. */
char *vhv_create(const char *vm_id, const char *config_json);

/* Asynchronous operations; result {"op_id":N}. Refused with INVALID_STATE when the
 * VM's current state does not allow them:
 *   start          STOPPED  -> STARTING -> RUNNING
 *   pause          RUNNING  -> PAUSING  -> PAUSED
 *   resume         PAUSED   -> RESUMING -> RUNNING
 *   request_stop   RUNNING  -> STOPPING -> STOPPED   (the guest may take its time)
 *   stop           RUNNING | PAUSED -> STOPPING -> STOPPED
 * stop is also accepted while a request_stop is still in progress (STOPPING): it
 * cuts the graceful stop short; that request_stop's op event then reports ok:false
 * with code INVALID_STATE, and the stop's own op event follows. */
char *vhv_start(const char *vm_id);
char *vhv_pause(const char *vm_id);
char *vhv_resume(const char *vm_id);
char *vhv_request_stop(const char *vm_id); /* graceful: ACPI / guest request */
char *vhv_stop(const char *vm_id);         /* forced: immediate */

/* Current state: {"vm_id":"…","state":"RUNNING"}. */
char *vhv_state(const char *vm_id);

/* Writes the current frame of display `display_index` to `path` (absolute) as a
 * binary PPM (P6) image and returns {"width":N,"height":N,"format":"ppm"};
 * UNSUPPORTED where the driver cannot capture frames, INVALID_ARGUMENT when the VM
 * has no such display, INVALID_STATE when the VM is STOPPED or STARTING. This call
 * is synchronous. The server converts the frame to PNG. */
char *vhv_capture_display(const char *vm_id, uint32_t display_index, const char *path);

/* What the library knows of the guest's network addresses, per configured NIC in
 * order, with the MAC the VM really uses (null when the library cannot tell):
 *   {"vm_id":"…","nics":[{"mac":"52:54:00:…"|null,"ip_addresses":["192.168.64.5"]}]}
 * `ip_addresses` holds only what the hypervisor itself knows, and only while the VM
 * is RUNNING; unknown is an empty list, never a guess. The vz library knows none
 * (Virtualization.framework has no view into the guest): the server looks the MACs
 * up in the host's DHCP leases. Synchronous; never waits on the guest. */
char *vhv_guest_addresses(const char *vm_id);

/* Forgets a STOPPED VM (INVALID_STATE otherwise); files in its directory stay. */
char *vhv_destroy(const char *vm_id);

/* Releases a string returned by any function above. NULL is ignored. */
void vhv_free_string(char *s);

#ifdef __cplusplus
}
#endif

#endif /* VELOCITY_HV_H */
