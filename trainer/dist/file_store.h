#ifndef OFA_TRAINER_DIST_FILE_STORE_H_
#define OFA_TRAINER_DIST_FILE_STORE_H_

#include <string>

#include "trainer/dist/store.h"

namespace ofa::trainer {

// A Store in a directory that all ranks can see (one machine, or a shared file system): one
// file per key, written to a temporary name and renamed, so a reader sees a whole value or
// nothing. Keys may hold any bytes; they are escaped into file names.
class FileStore : public Store {
 public:
  explicit FileStore(std::string dir);

  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key, absl::Duration timeout) override;

 private:
  std::string PathOf(const std::string& key) const;

  std::string dir_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_FILE_STORE_H_
