// The one RE2 fact Envoy checks that no JavaScript RE2 package exposes: the size of a pattern's
// compiled program. Envoy compiles every safe_regex as re2::RE2(regex, re2::RE2::Quiet), refuses
// it when !ok(), and refuses it when ProgramSize() exceeds re2.max_program_size.error_level
// (default 100): envoy source/common/common/regex.cc, CompiledGoogleReMatcher. This addon runs
// exactly that construction and reports ok, the error and the program size.
#include <node_api.h>

#include <string>
#include <vector>

#include "re2/re2.h"

namespace {

napi_value Fail(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}

// check(pattern: string) -> { ok: boolean, error: string, programSize: number }
// programSize is -1 when the pattern does not compile (RE2::ProgramSize's own convention).
napi_value Check(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1) {
    return Fail(env, "check(pattern) needs a pattern");
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], nullptr, 0, &length) != napi_ok) {
    return Fail(env, "check(pattern): the pattern must be a string");
  }
  std::vector<char> buffer(length + 1);
  napi_get_value_string_utf8(env, argv[0], buffer.data(), buffer.size(), &length);
  // Built from the bytes and their length: a NUL inside the pattern stays part of it, as in Envoy.
  const re2::RE2 re(std::string(buffer.data(), length), re2::RE2::Quiet);

  napi_value result, ok, error, size;
  napi_create_object(env, &result);
  napi_get_boolean(env, re.ok(), &ok);
  napi_create_string_utf8(env, re.error().data(), re.error().size(), &error);
  napi_create_int32(env, re.ok() ? re.ProgramSize() : -1, &size);
  napi_set_named_property(env, result, "ok", ok);
  napi_set_named_property(env, result, "error", error);
  napi_set_named_property(env, result, "programSize", size);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "check", NAPI_AUTO_LENGTH, Check, nullptr, &fn);
  napi_set_named_property(env, exports, "check", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
