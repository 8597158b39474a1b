// glibc's allocator controls (mallopt), which the Glibc module does not carry. Only the
// validator command uses them (socai/MemoryAllocator.swift says why).
#include <malloc.h>
