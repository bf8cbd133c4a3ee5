/* Classify a 28x28 handwritten digit with a shoal model exported to ONNX, through the ONNX
 * Runtime C API.
 *
 *   cc -O2 -std=c99 -I ORT/include mnist.c -o mnist -L ORT/lib -lonnxruntime -Wl,-rpath,ORT/lib
 *   ./mnist mnist.onnx ../sample-digit.pgm
 *
 * where ORT is an ONNX Runtime release (include/onnxruntime_c_api.h and lib/libonnxruntime.so);
 * docs/deploy.md has the details. IMAGE is a binary PGM (P5, 8-bit), white digit on black as
 * in MNIST; pixels are scaled to [0, 1] as in training. Prints `digit: N` and the ten class
 * probabilities. The input shape is read from the model: (batch, 28, 28, 1) and (batch, 784)
 * both work.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnxruntime_c_api.h"

#define SIDE 28
#define MAX_RANK 8

static const OrtApi *ort;

/* Every C API call returns NULL or an OrtStatus describing the failure. */
static void check(OrtStatus *status, const char *what) {
  if (status != NULL) {
    fprintf(stderr, "mnist: %s failed: %s\n", what, ort->GetErrorMessage(status));
    ort->ReleaseStatus(status);
    exit(1);
  }
}

/* Reads one header number of a PGM file, skipping whitespace and '#' comments. */
static int pgm_number(FILE *file) {
  int c, value = 0;
  while ((c = fgetc(file)) != EOF && (isspace(c) || c == '#'))
    if (c == '#')
      while ((c = fgetc(file)) != EOF && c != '\n') {
      }
  if (c == EOF || !isdigit(c)) return -1;
  for (; c != EOF && isdigit(c); c = fgetc(file)) value = 10 * value + (c - '0');
  return value; /* the single whitespace after the number has been consumed */
}

/* Loads a 28x28 8-bit binary PGM into `pixels`, scaled to [0, 1]. */
static void read_pgm(const char *path, float pixels[SIDE * SIDE]) {
  FILE *file = fopen(path, "rb");
  unsigned char bytes[SIDE * SIDE];
  if (file == NULL) {
    perror(path);
    exit(1);
  }
  if (fgetc(file) != 'P' || fgetc(file) != '5') {
    fprintf(stderr, "mnist: %s is not a binary PGM (P5) image\n", path);
    exit(1);
  }
  int width = pgm_number(file), height = pgm_number(file), maxval = pgm_number(file);
  if (width != SIDE || height != SIDE || maxval <= 0 || maxval > 255) {
    fprintf(stderr, "mnist: %s is %dx%d (max %d); expected 28x28 8-bit\n", path, width, height,
            maxval);
    exit(1);
  }
  if (fread(bytes, 1, sizeof bytes, file) != sizeof bytes) {
    fprintf(stderr, "mnist: %s is truncated\n", path);
    exit(1);
  }
  fclose(file);
  for (int i = 0; i < SIDE * SIDE; i++) pixels[i] = bytes[i] / (float)maxval;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL.onnx IMAGE.pgm\n", argv[0]);
    return 2;
  }
  float pixels[SIDE * SIDE];
  read_pgm(argv[2], pixels);

  ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (ort == NULL) {
    fprintf(stderr, "mnist: the ONNX Runtime library is older than its header\n");
    return 1;
  }
  OrtEnv *env;
  OrtSessionOptions *options;
  OrtSession *session;
  OrtAllocator *allocator;
  check(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "mnist", &env), "CreateEnv");
  check(ort->CreateSessionOptions(&options), "CreateSessionOptions");
  check(ort->CreateSession(env, argv[1], options, &session), "CreateSession");
  check(ort->GetAllocatorWithDefaultOptions(&allocator), "GetAllocatorWithDefaultOptions");

  char *input_name, *output_name;
  check(ort->SessionGetInputName(session, 0, allocator, &input_name), "SessionGetInputName");
  check(ort->SessionGetOutputName(session, 0, allocator, &output_name), "SessionGetOutputName");

  /* The input's shape, with its symbolic dimensions (the batch, -1 here) set to 1. */
  OrtTypeInfo *type_info;
  const OrtTensorTypeAndShapeInfo *tensor_info;
  size_t rank;
  int64_t dims[MAX_RANK];
  check(ort->SessionGetInputTypeInfo(session, 0, &type_info), "SessionGetInputTypeInfo");
  check(ort->CastTypeInfoToTensorInfo(type_info, &tensor_info), "CastTypeInfoToTensorInfo");
  check(ort->GetDimensionsCount(tensor_info, &rank), "GetDimensionsCount");
  if (rank > MAX_RANK) {
    fprintf(stderr, "mnist: the model's input has rank %zu\n", rank);
    return 1;
  }
  check(ort->GetDimensions(tensor_info, dims, rank), "GetDimensions");
  ort->ReleaseTypeInfo(type_info);
  int64_t count = 1;
  for (size_t i = 0; i < rank; i++) {
    if (dims[i] < 0) dims[i] = 1;
    count *= dims[i];
  }
  if (count != SIDE * SIDE) {
    fprintf(stderr, "mnist: the model takes %lld values per example, not 28x28\n",
            (long long)count);
    return 1;
  }

  OrtMemoryInfo *memory;
  OrtValue *input = NULL, *output = NULL;
  check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory),
        "CreateCpuMemoryInfo");
  check(ort->CreateTensorWithDataAsOrtValue(memory, pixels, sizeof pixels, dims, rank,
                                            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &input),
        "CreateTensorWithDataAsOrtValue");
  const char *input_names[] = {input_name}, *output_names[] = {output_name};
  const OrtValue *inputs[] = {input};
  check(ort->Run(session, NULL, input_names, inputs, 1, output_names, 1, &output), "Run");

  OrtTensorTypeAndShapeInfo *output_info;
  size_t classes;
  float *probabilities;
  check(ort->GetTensorTypeAndShape(output, &output_info), "GetTensorTypeAndShape");
  check(ort->GetTensorShapeElementCount(output_info, &classes), "GetTensorShapeElementCount");
  ort->ReleaseTensorTypeAndShapeInfo(output_info);
  check(ort->GetTensorMutableData(output, (void **)&probabilities), "GetTensorMutableData");

  size_t digit = 0;
  for (size_t i = 1; i < classes; i++)
    if (probabilities[i] > probabilities[digit]) digit = i;
  printf("digit: %zu\nprobabilities:", digit);
  for (size_t i = 0; i < classes; i++) printf(" %.9g", probabilities[i]);
  printf("\n");

  ort->ReleaseValue(output);
  ort->ReleaseValue(input);
  ort->ReleaseMemoryInfo(memory);
  check(ort->AllocatorFree(allocator, input_name), "AllocatorFree");
  check(ort->AllocatorFree(allocator, output_name), "AllocatorFree");
  ort->ReleaseSession(session);
  ort->ReleaseSessionOptions(options);
  ort->ReleaseEnv(env);
  return 0;
}
