# Remote-endpoint programming on the real kernel (root; own namespaces). A
# file of its own so that bench/kernel/remote_endpoints_bench.sh can add it
# to a checkout of an older revision and measure before and after.
add_executable(weft-remote-endpoints-bench remote_endpoints_bench.cc)
target_link_libraries(weft-remote-endpoints-bench PRIVATE weft_driver weft_kernel ${CMAKE_DL_LIBS})
# Its sendto() must take the place of libc's for libmnl (round-trip count).
set_target_properties(weft-remote-endpoints-bench PROPERTIES ENABLE_EXPORTS ON)
