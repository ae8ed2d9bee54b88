// Batch scoring of SentencePiece id sequences with KenLM, summed in double precision.
//
// Python's kenlm module scores one space-joined string per call: it splits the string,
// encodes each word to UTF-8 and looks it up, and sums the log-probabilities in a 32-bit
// float. Winnow instead maps SentencePiece ids to KenLM word indices once per model and
// hands whole batches of lines to this function as flat integer arrays: no strings, one
// call per batch, and doubles for the sums. Loaded with ctypes (winnow/models/kenlm_native.py).
#include "lm/model.hh"

#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

namespace {
void set_error(char *err, size_t errlen, const char *what) {
  if (err && errlen) {
    std::strncpy(err, what, errlen - 1);
    err[errlen - 1] = '\0';
  }
}
}  // namespace

extern "C" {

void *winnow_kenlm_load(const char *path, char *err, size_t errlen) {
  try {
    lm::ngram::Config config;
    config.messages = nullptr;  // no progress output on stderr
    return lm::ngram::LoadVirtual(path, config);
  } catch (const std::exception &e) {
    set_error(err, errlen, e.what());
  } catch (...) {
    set_error(err, errlen, "unknown error while loading the KenLM model");
  }
  return nullptr;
}

void winnow_kenlm_free(void *model) { delete static_cast<lm::base::Model *>(model); }

// Indices of n words packed back to back in `words`; word i spans [ends[i-1], ends[i]).
void winnow_kenlm_index_many(const void *model, const char *words, const int64_t *ends, int64_t n,
                             uint32_t *out) {
  const auto &vocab = static_cast<const lm::base::Model *>(model)->BaseVocabulary();
  int64_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = vocab.Index(StringPiece(words + start, ends[i] - start));
    start = ends[i];
  }
}

// Scores n_lines lines. Line i is the next lens[i] word indices of `words`; each line is
// scored from <s> and ends with </s>. Writes each line's log10 probability to out[i].
void winnow_kenlm_score_lines(const void *model_ptr, const uint32_t *words, const int64_t *lens,
                              int64_t n_lines, double *out) {
  const auto *model = static_cast<const lm::base::Model *>(model_ptr);
  const lm::WordIndex eos = model->BaseVocabulary().EndSentence();
  std::vector<char> a(model->StateSize()), b(model->StateSize());
  for (int64_t i = 0; i < n_lines; ++i) {
    void *in = a.data(), *next = b.data();
    model->BeginSentenceWrite(in);
    double total = 0.0;
    for (int64_t j = 0; j < lens[i]; ++j) {
      total += model->BaseScore(in, *words++, next);
      std::swap(in, next);
    }
    total += model->BaseScore(in, eos, next);
    out[i] = total;
  }
}

}  // extern "C"
