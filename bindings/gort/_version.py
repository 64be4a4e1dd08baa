# The package version; it must equal GORT_VERSION in gort_sched.h (the
# build checks, and so does the import against the built extension).
__version__ = "0.1.0"
