"""Paths for the tests' defines."""

# A C++ expression for the absolute path of `path` in the runfiles: tests
# hand some paths to ctest, which runs in a directory of its own. (Bazel sets
# TEST_SRCDIR to an absolute path.) No spaces: defines are tokenized.
def runfile(path):
    return '(std::string(::getenv(\\"TEST_SRCDIR\\"))+\\"/\\"+::getenv(\\"TEST_WORKSPACE\\")+\\"/%s\\")' % path
