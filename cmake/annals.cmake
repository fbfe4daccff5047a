# Shared build rules: warnings, sanitizers, and the one way to register a test.

# annals_warnings(target): warnings are errors for the project's own code.
function(annals_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-missing-field-initializers)
endfunction()

option(ANNALS_FUZZ "build the libFuzzer targets (clang only)" OFF)

if(ANNALS_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(ANNALS_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(ANNALS_FUZZ)
  # tools/fuzz.sh: clang's libFuzzer with ASan + UBSan over the whole build.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT ANNALS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "ANNALS_SANITIZE must be empty, address or thread")
endif()

# annals_allocator(target): the program allocates with jemalloc (docs/decisions.md, "jemalloc").
# glibc's malloc, after a burst of appends, spent a seventh of the writer's time walking its free
# lists and halved the append rate of a ledger of 10 million events (docs/BENCHMARKS.md,
# dedup-at-scale). Sanitizer and fuzz builds keep their runtimes' allocator.
if(ANNALS_SANITIZE STREQUAL "" AND NOT ANNALS_FUZZ)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()
function(annals_allocator target)
  if(JEMALLOC_FOUND)
    # --no-as-needed: nothing in the program names a jemalloc symbol (malloc comes through
    # libstdc++ and RocksDB), and the library must stay in the link to take malloc's place.
    target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed"
      ${JEMALLOC_LINK_LIBRARIES} "-Wl,--pop-state")
  endif()
endfunction()

# One object library holds doctest's main() so that each test binary links it.
add_library(annals_doctest_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/doctest_main.cc)
target_link_libraries(annals_doctest_main PUBLIC doctest::doctest)

# annals_test(NAME SOURCES... LIBS libs... [LABELS labels...] [TIMEOUT seconds])
# Builds a doctest binary and registers it with ctest under NAME.
function(annals_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE annals_doctest_main ${T_LIBS})
  annals_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    ENVIRONMENT "ANNALS_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
endfunction()

# annals_fuzzer(NAME SOURCES... LIBS libs...): a libFuzzer target, built only with ANNALS_FUZZ.
# Every fuzzer of the project is registered through this function (run them with tools/fuzz.sh).
function(annals_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  if(NOT ANNALS_FUZZ)
    return()
  endif()
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()
