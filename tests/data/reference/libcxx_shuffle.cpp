// Sequences from a real libc++ that pin the Python port in mlupdate.reference.shuffle.
// Build: clang++ -std=c++17 -stdlib=libc++ -O1 libcxx_shuffle.cpp -o libcxx_shuffle && ./libcxx_shuffle
// Prints one JSON object: raw engine values, uniform_int draws (incl. widths > 30 bits), seed_seq words,
// and repeated shuffles (as MLShufflingBatchProvider does them) for several sizes and seeds.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

static void print_list(const std::vector<long long>& v) {
  std::printf("[");
  for (size_t i = 0; i < v.size(); ++i) std::printf(i ? ",%lld" : "%lld", v[i]);
  std::printf("]");
}

static std::minstd_rand make_engine(long long seed) {
  std::minstd_rand engine;  // seed 1
  if (seed >= 0) {
    std::seed_seq seq{static_cast<uint32_t>(seed)};
    engine.seed(seq);
  }
  return engine;
}

int main() {
  std::printf("{\n\"engine_default\": ");
  {
    std::minstd_rand e;
    std::vector<long long> v;
    for (int i = 0; i < 10; ++i) v.push_back(e());
    print_list(v);
  }
  std::printf(",\n\"seed_seq\": [");
  const uint32_t seq_seeds[] = {0u, 1u, 42u, 1234567u, 4294967295u};
  for (int k = 0; k < 5; ++k) {
    std::seed_seq seq{seq_seeds[k]};
    uint32_t words[4];
    seq.generate(words, words + 4);
    std::printf(k ? ",\n {" : "\n {");
    std::printf("\"seed\": %u, \"words\": [%u,%u,%u,%u]}", seq_seeds[k], words[0], words[1], words[2], words[3]);
  }
  std::printf("],\n\"uniform_int\": [");
  const long long highs[] = {1, 2, 6, 9, 404, 65535, 1073741823LL, 1073741824LL, 2147483647LL, 1099511627776LL};
  for (int k = 0; k < 10; ++k) {
    std::minstd_rand e;
    std::uniform_int_distribution<std::ptrdiff_t> dist(0, highs[k]);
    std::vector<long long> v;
    for (int i = 0; i < 8; ++i) v.push_back(dist(e));
    std::printf(k ? ",\n {" : "\n {");
    std::printf("\"high\": %lld, \"draws\": ", highs[k]);
    print_list(v);
    std::printf("}");
  }
  std::printf("],\n\"shuffles\": [");
  const int sizes[] = {1, 2, 5, 10, 33, 405};
  const long long seeds[] = {-1, 0, 7, 42, 1234567};
  bool first = true;
  for (int n : sizes) {
    for (long long seed : seeds) {
      std::minstd_rand engine = make_engine(seed);
      std::vector<long> order(n);
      for (int i = 0; i < n; ++i) order[i] = i;
      std::printf(first ? "\n {" : ",\n {");
      first = false;
      if (seed < 0) std::printf("\"n\": %d, \"seed\": null, \"orders\": [", n);
      else std::printf("\"n\": %d, \"seed\": %lld, \"orders\": [", n, seed);
      for (int r = 0; r < 3; ++r) {
        std::shuffle(order.begin(), order.end(), engine);
        std::vector<long long> v(order.begin(), order.end());
        if (r) std::printf(",");
        print_list(v);
      }
      std::printf("]}");
    }
  }
  std::printf("]\n}\n");
  return 0;
}
