# Helpers shared by every module and test folder.

# aria_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A static library with include/ public and src/ private.
function(aria_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  target_include_directories(${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${ARIA_WARNINGS})
  if(M_PUBLIC_DEPS)
    target_link_libraries(${name} PUBLIC ${M_PUBLIC_DEPS})
  endif()
  if(M_PRIVATE_DEPS)
    target_link_libraries(${name} PRIVATE ${M_PRIVATE_DEPS})
  endif()
endfunction()

# aria_test(NAME SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s] [NNG])
# A Criterion test binary registered with CTest. Tests may include a module's
# private src/ headers (unit tests see internals). With NNG, the binary links
# nng too: Criterion talks to its workers over libnanomsg, and libnng exports
# the same nn_* symbols, so libnanomsg is linked first and --no-as-needed
# keeps it (LD_DEBUG=bindings shows Criterion bound to libnanomsg).
function(aria_test name)
  cmake_parse_arguments(T "NNG" "TIMEOUT" "SOURCES;LIBS;LABELS;INCLUDES" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_compile_options(${name} PRIVATE ${ARIA_WARNINGS} -Wno-missing-prototypes)
  target_include_directories(${name} PRIVATE ${T_INCLUDES})
  target_link_libraries(${name} PRIVATE
    -Wl,--no-as-needed ${NANOMSG_LINK_LIBRARIES} -Wl,--as-needed
    ${T_LIBS} ${CRITERION_LINK_LIBRARIES})
  target_include_directories(${name} PRIVATE ${CRITERION_INCLUDE_DIRS})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  # --jobs 2: these machines have two cores. No --full-stats: with it every
  # passing assert talks to the runner, which deadlocks in a forked child.
  add_test(NAME ${name} COMMAND ${name} --jobs 2
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "ARIA_SOURCE_DIR=${CMAKE_SOURCE_DIR};ARIA_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared;ARIA_BIN=$<TARGET_FILE:aria>")
endfunction()

# aria_fuzz(NAME SOURCES ... LIBS ... CORPUS dir)
# A fuzz target defines LLVMFuzzerTestOneInput. It is always built as a
# corpus-replay program (replay_main.c feeds every file in CORPUS, plus
# generated edge cases) and registered under the `fuzz` label; with
# ARIA_LIBFUZZER (clang) it is also built as a real libFuzzer binary.
function(aria_fuzz name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS;INCLUDES" ${ARGN})
  add_executable(${name}_replay ${F_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_compile_options(${name}_replay PRIVATE ${ARIA_WARNINGS} -Wno-missing-prototypes)
  target_include_directories(${name}_replay PRIVATE ${F_INCLUDES})
  target_link_libraries(${name}_replay PRIVATE ${F_LIBS})
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${F_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES LABELS fuzz TIMEOUT 300)
  if(ARIA_LIBFUZZER)
    add_executable(${name}_fuzz ${F_SOURCES})
    target_compile_options(${name}_fuzz PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
    target_link_options(${name}_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
    target_include_directories(${name}_fuzz PRIVATE ${F_INCLUDES})
    target_link_libraries(${name}_fuzz PRIVATE ${F_LIBS})
  endif()
endfunction()
