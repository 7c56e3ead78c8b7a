{
  "targets": [
    {
      "target_name": "mountie_native",
      "sources": ["src/addon.c", "src/session.c", "src/ops.c", "src/ops_dir.c", "src/nodes.c", "src/notify.c", "src/stats.c", "src/loop.c", "src/xattr.c", "src/creds.c", "src/flock.c", "src/procscan.c", "src/umount.c", "src/exit.c", "src/jsfs.c", "src/jsnodes.c", "src/jsbridge.c", "src/jslfops.c", "src/own.c", "src/reply.c", "src/lfops.c", "src/backing.c", "src/ids.c", "src/handles.c", "src/handover.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11", "<!@(pkg-config --cflags fuse3)"],
      "libraries": ["<!@(pkg-config --libs fuse3)", "-lpthread"],
      "defines": ["NAPI_VERSION=8", "FUSE_USE_VERSION=312", "_GNU_SOURCE"]
    }
  ]
}
