/* The version of the repository engine's public surface (the installed
 * headers repo/storage_driver.h, repo/provider_edge.h and this one), for a
 * provider built on the engine out of this tree.
 *
 * The minor version grows when the surface grows compatibly (a new virtual
 * with a default, a new function); the major version when a provider built
 * against the old one would no longer build or behave the same (a new pure
 * virtual, a changed signature or contract). The installed CMake package
 * bkp_repo_engine carries the same version, so
 * find_package(bkp_repo_engine 1) accepts any 1.x. It is independent of the
 * plugin ABI's version (BKP_ABI_VERSION, bkp/bkp_plugin.h) and of the
 * repository format's (docs/repository-format.md). */
#pragma once

#define BKP_REPO_ENGINE_API_VERSION_MAJOR 1
#define BKP_REPO_ENGINE_API_VERSION_MINOR 1
/* Major in the high 16 bits, minor in the low 16, as BKP_ABI_VERSION. */
#define BKP_REPO_ENGINE_API_VERSION \
  ((BKP_REPO_ENGINE_API_VERSION_MAJOR << 16) | BKP_REPO_ENGINE_API_VERSION_MINOR)
