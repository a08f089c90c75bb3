# The RE2 program-size addon (native/re2_program.cc), built by `npm ci` / `npm install` (npm runs
# `node-gyp rebuild` for a package with a binding.gyp). RE2 and Abseil are compiled from the
# sources vendored by the pinned `re2` npm package (native/re2-sources.cjs lists them), so no
# source is downloaded; node headers are found as node-gyp always finds them (npm's `nodedir`
# setting, which these machines point at the local Node installation, or node-gyp's download).
{
  "targets": [
    {
      "target_name": "re2_program",
      "sources": [
        "native/re2_program.cc",
        "<!@(node native/re2-sources.cjs sources)"
      ],
      "include_dirs": ["<!@(node native/re2-sources.cjs include)"],
      "defines": ["NDEBUG", "NOMINMAX"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++2a", "-O2", "-Wno-sign-compare", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
      "conditions": [
        ["OS==\"linux\"", {"cflags": ["-pthread"], "ldflags": ["-pthread"]}]
      ]
    }
  ]
}
