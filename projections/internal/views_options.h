// The RocksDB options of the views database (ViewsDb::Open), shared with the rebuild floor's
// row step (rebuild_floor.h), which must write as the views do.
#pragma once

#include <rocksdb/options.h>

#include <cstddef>

namespace annals::projections::internal {

rocksdb::Options ViewsRocksOptions(size_t block_cache_bytes);

// Fold batches are written without the WAL: views are derived (views_db.h, durability).
rocksdb::WriteOptions ViewsWriteOptions();

}  // namespace annals::projections::internal
