/* A reference for commscale's MPI numbers: MPI collectives timed in C, as the MPI
 * benchmarks time them (OSU: one MPI_Wtime pair around each call after a barrier and a
 * warm-up; IMB and nccl-tests: a batch of calls between two synchronisations).
 *
 *   mpiexec -n P ./mpi_reference COLLECTIVE SIZES ITERS WARMUP PAGES
 *
 * COLLECTIVE: all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, reduce or
 * sendrecv; SIZES: comma list of sizes in bytes, with commscale's (nccl-tests') meaning
 * (the whole array for all_gather, reduce_scatter and all_to_all); float data, sum,
 * out of place (broadcast: one buffer); page-aligned buffers written once before timing.
 * PAGES: "thp" asks the kernel for transparent huge pages on buffers of 4 MiB and more
 * (madvise MADV_HUGEPAGE), as numpy does for its arrays and so commscale's host buffers;
 * "plain" does not, as OSU does (a 16 MiB Alltoall on 2 ranks: about 1.4x the time).
 *
 * Per size, rank 0 prints one line:
 *   COLLECTIVE SIZE_BYTES ITERS MEAN_US MEDIAN_US MIN_US BATCH_US
 * MEAN, MEDIAN and MIN are over the per-call times, each the max over ranks (what
 * commscale records); BATCH is ITERS calls between two barriers, per call, max over ranks.
 * Written for commscale (benchmarks/mpi_reference.py compiles it with the MPI's mpicc).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { PAGE = 4096 };
static const size_t HUGE_FROM = 4u << 20;
static int huge_pages;

static float *page_buffer(size_t count, float value) {
    void *p = NULL;
    if (posix_memalign(&p, PAGE, (count ? count : 1) * sizeof(float)) != 0) {
        fprintf(stderr, "mpi_reference: cannot allocate %zu floats\n", count);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (huge_pages && count * sizeof(float) >= HUGE_FROM) madvise(p, count * sizeof(float), MADV_HUGEPAGE);
    float *f = p;
    for (size_t i = 0; i < count; i++) f[i] = value;
    return f;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct point { const char *name; float *send, *recv; int count, chunk, rank, size; };

static void call(const struct point *pt) {
    MPI_Comm w = MPI_COMM_WORLD;
    const char *c = pt->name;
    if (!strcmp(c, "all_reduce")) MPI_Allreduce(pt->send, pt->recv, pt->count, MPI_FLOAT, MPI_SUM, w);
    else if (!strcmp(c, "all_gather")) MPI_Allgather(pt->send, pt->chunk, MPI_FLOAT, pt->recv, pt->chunk, MPI_FLOAT, w);
    else if (!strcmp(c, "reduce_scatter")) MPI_Reduce_scatter_block(pt->send, pt->recv, pt->chunk, MPI_FLOAT, MPI_SUM, w);
    else if (!strcmp(c, "all_to_all")) MPI_Alltoall(pt->send, pt->chunk, MPI_FLOAT, pt->recv, pt->chunk, MPI_FLOAT, w);
    else if (!strcmp(c, "broadcast")) MPI_Bcast(pt->recv, pt->count, MPI_FLOAT, 0, w);
    else if (!strcmp(c, "reduce")) MPI_Reduce(pt->send, pt->recv, pt->count, MPI_FLOAT, MPI_SUM, 0, w);
    else if (!strcmp(c, "sendrecv"))
        MPI_Sendrecv(pt->send, pt->count, MPI_FLOAT, (pt->rank + 1) % pt->size, 0, pt->recv, pt->count, MPI_FLOAT,
                     (pt->rank - 1 + pt->size) % pt->size, 0, w, MPI_STATUS_IGNORE);
}

/* Element counts of the send and receive buffers for SIZE bytes, as commscale lays them out. */
static int layout(struct point *pt, long size) {
    const char *c = pt->name;
    long elems = size / (long)sizeof(float);
    int whole_array = !strcmp(c, "all_gather") || !strcmp(c, "reduce_scatter") || !strcmp(c, "all_to_all");
    /* split arrays: elements per rank rounded down to a multiple of 4, as nccl-tests and commscale */
    pt->chunk = whole_array ? (int)(elems / (4L * pt->size) * 4) : (int)elems;
    pt->count = whole_array ? pt->chunk * pt->size : (int)elems;
    if (pt->chunk == 0) return 0;
    size_t send = !strcmp(c, "all_gather") ? (size_t)pt->chunk : (size_t)pt->count;
    size_t recv = !strcmp(c, "reduce_scatter") ? (size_t)pt->chunk : (size_t)pt->count;
    pt->send = page_buffer(send, 1.0f);
    pt->recv = page_buffer(recv, 0.0f);
    return 1;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct point pt = {0};
    MPI_Comm_rank(MPI_COMM_WORLD, &pt.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &pt.size);
    if (argc != 6 || (strcmp(argv[5], "thp") && strcmp(argv[5], "plain"))) {
        if (pt.rank == 0) fprintf(stderr, "usage: mpi_reference COLLECTIVE SIZES ITERS WARMUP thp|plain\n");
        MPI_Finalize();
        return 2;
    }
    pt.name = argv[1];
    int iters = atoi(argv[3]), warmup = atoi(argv[4]);
    huge_pages = !strcmp(argv[5], "thp");
    double *mine = malloc(iters * sizeof(double)), *slowest = malloc(iters * sizeof(double));
    char *sizes = strdup(argv[2]);
    for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
        long size = atol(tok);
        if (!layout(&pt, size)) continue;
        for (int i = 0; i < warmup; i++) call(&pt);
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < iters; i++) {  /* per call, as OSU */
            double t0 = MPI_Wtime();
            call(&pt);
            mine[i] = MPI_Wtime() - t0;
        }
        MPI_Allreduce(mine, slowest, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);  /* a batch between two barriers, as IMB */
        double t0 = MPI_Wtime();
        for (int i = 0; i < iters; i++) call(&pt);
        double batch = (MPI_Wtime() - t0) / iters, batch_max;
        MPI_Reduce(&batch, &batch_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (pt.rank == 0) {
            double sum = 0;
            for (int i = 0; i < iters; i++) sum += slowest[i];
            qsort(slowest, iters, sizeof(double), by_value);
            double median = iters % 2 ? slowest[iters / 2] : (slowest[iters / 2 - 1] + slowest[iters / 2]) / 2;
            printf("%s %ld %d %.3f %.3f %.3f %.3f\n", pt.name, (long)pt.count * (long)sizeof(float), iters,
                   sum / iters * 1e6, median * 1e6, slowest[0] * 1e6, batch_max * 1e6);
            fflush(stdout);
        }
        free(pt.send);
        free(pt.recv);
    }
    free(sizes);
    free(mine);
    free(slowest);
    MPI_Finalize();
    return 0;
}
