// Where a RocksDB status enters annals: converted to a Status with the operation named.
#pragma once

#include <rocksdb/status.h>

#include <string>
#include <string_view>

#include "annals/base/status.h"

namespace annals::eventstore {

inline Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string m(what);
  m += ": ";
  m += s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(m));
  if (s.IsNotFound()) return Status::NotFound(std::move(m));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(m));
  if (s.IsBusy() || s.IsTryAgain()) return Status::Unavailable(std::move(m));
  return Status::IOError(std::move(m));
}

}  // namespace annals::eventstore
