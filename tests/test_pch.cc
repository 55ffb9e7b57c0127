// The translation unit that bkp_test_pch's precompiled header is built with
// (tests/CMakeLists.txt); the test executables reuse that header. Nothing of
// it is linked anywhere.
