# Fit a softmax-gated mixture of Gaussian linear experts with R flexmix, from a given posterior
# matrix, and write the estimate as JSON (base R only: no jsonlite).
#
#   Rscript bench/flexmix/fit.R DATA.csv POSTERIOR.csv TOL OUT.json [ml-sigma]
#
# DATA.csv:      header x1,...,xd,y (one row per observation)
# POSTERIOR.csv: n x k initial posterior (membership-probability) matrix, with a header line
# ml-sigma:      diagnostic only: replace FLXMRglm's gaussian sigma, sqrt(n/(n-p) * sum(w r^2)/sum(w)),
#                by the weighted ML value sqrt(sum(w r^2)/sum(w)) in every M-step
# TOL:           flexmix tolerance: EM stops when |ll - ll_old| / (|ll| + 0.1) < TOL
#                (FLXcontrol: "the (relative) change of log-likelihood"; see FLXfit's source)
#
# Model: flexmix(y ~ x1 + ... + xd, k = K, model = FLXMRglm(family = "gaussian"),
#                concomitant = FLXPmultinom(~ x1 + ... + xd), cluster = POSTERIOR,
#                control = list(iter.max = 2000, tolerance = TOL, minprior = 0))
#
# flexmix's multinomial concomitant uses the FIRST component as reference; the JSON gives both
# that raw form and moelab's canonical form (LAST component as reference: every column minus the
# last one). Numbers are written with sprintf("%.17g") so they round-trip exactly.

suppressPackageStartupMessages(library(flexmix))

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) == 4 || (length(args) == 5 && args[5] == "ml-sigma"))) {
  stop("usage: Rscript fit.R DATA.csv POSTERIOR.csv TOL OUT.json [ml-sigma]", call. = FALSE)
}
mlSigma <- length(args) == 5
dataFile <- args[1]
postFile <- args[2]
tol <- as.numeric(args[3])
outFile <- args[4]

df <- read.csv(dataFile, colClasses = "numeric")
post <- as.matrix(read.csv(postFile, colClasses = "numeric"))
dimnames(post) <- NULL
xcols <- setdiff(names(df), "y")
d <- length(xcols)
n <- nrow(df)
K <- ncol(post)
if (nrow(post) != n) stop("posterior has ", nrow(post), " rows, data has ", n, call. = FALSE)

rhs <- paste(xcols, collapse = " + ")
fml <- as.formula(paste("y ~", rhs))
cfml <- as.formula(paste("~", rhs))

expertModel <- FLXMRglm(family = "gaussian")
if (mlSigma) {
  # FLXMRglm's gaussian M-step with the weighted maximum-likelihood sigma (no n/(n-p) factor)
  expertModel@fit <- function(x, y, w, component) {
    fit <- lm.wfit(x, y, w = w)
    expertModel@defineComponent(para = list(coef = coef(fit), df = ncol(x) + 1,
      sigma = sqrt(sum(fit$weights * fit$residuals^2) / sum(fit$weights))))
  }
}

set.seed(1) # flexmix draws nothing when `cluster` is a posterior matrix; kept for safety
timing <- system.time(
  fit <- flexmix(fml, data = df, k = K,
                 model = expertModel,
                 concomitant = FLXPmultinom(cfml),
                 cluster = post,
                 control = list(iter.max = 2000, tolerance = tol, minprior = 0))
)
elapsed <- unname(timing["elapsed"])

kFit <- fit@k
coefs <- lapply(seq_len(kFit), function(i) fit@components[[i]][[1]]@parameters$coef)
sigmas <- vapply(seq_len(kFit), function(i) fit@components[[i]][[1]]@parameters$sigma, numeric(1))
# concomitant coefficients: (d+1) x k, column 1 is the reference (zeros)
G <- fit@concomitant@coef
Gcanon <- G - G[, kFit]

# Exact log-likelihood of the reported parameters (prior from the reported concomitant
# coefficients, components from the reported coef/sigma) - a cross-check of moelab's evaluation.
Xd <- cbind(1, as.matrix(df[, xcols, drop = FALSE]))
eta <- Xd %*% G
lse <- function(M) { m <- apply(M, 1, max); m + log(rowSums(exp(M - m))) }
logPrior <- eta - lse(eta)
logJ <- sapply(seq_len(kFit), function(i) {
  dnorm(df$y, mean = drop(Xd %*% coefs[[i]]), sd = sigmas[i], log = TRUE)
}) + logPrior
llExact <- sum(lse(logJ))

# Accuracy of flexmix's gate (concomitant) M-step at the final posteriors: flexmix fits the
# multinomial by nnet's BFGS from zero weights (rang = 0) with nnet's defaults (maxit = 100,
# reltol = 1e-8 on the objective); continue that fit to convergence and report how much the
# objective -sum(post * log(prior)) still drops (a log-likelihood-scale gap, >= 0).
Pfin <- fit@posterior$scaled
xc <- fit@concomitant@x
gateMask <- c(rep(0, ncol(xc) + 1), rep(c(0, rep(1, ncol(xc))), kFit - 1))
gateDefault <- nnet::nnet.default(xc, Pfin, mask = gateMask, size = 0, skip = TRUE, softmax = TRUE,
                                  censored = FALSE, rang = 0, trace = FALSE)
gateTight <- nnet::nnet.default(xc, Pfin, mask = gateMask, size = 0, skip = TRUE, softmax = TRUE,
                                censored = FALSE, Wts = gateDefault$wts, trace = FALSE,
                                maxit = 100000, reltol = 1e-16)
gateGap <- gateDefault$value - gateTight$value

num <- function(v) {
  s <- sprintf("%.17g", v)
  s[!is.finite(v)] <- "null"
  s
}
vec <- function(v) paste0("[", paste(num(v), collapse = ","), "]")
mat <- function(rows) paste0("[", paste(vapply(rows, vec, character(1)), collapse = ","), "]")

json <- paste0(
  "{\n",
  "  \"tool\": \"flexmix\",\n",
  "  \"flexmixVersion\": \"", as.character(packageVersion("flexmix")), "\",\n",
  "  \"rVersion\": \"", R.version$major, ".", R.version$minor, "\",\n",
  "  \"n\": ", n, ",\n",
  "  \"d\": ", d, ",\n",
  "  \"kRequested\": ", K, ",\n",
  "  \"k\": ", kFit, ",\n",
  "  \"tolerance\": ", num(tol), ",\n",
  "  \"mlSigma\": ", if (mlSigma) "true" else "false", ",\n",
  "  \"intercept\": ", vec(vapply(coefs, function(cf) cf[1], numeric(1))), ",\n",
  "  \"slopes\": ", mat(lapply(coefs, function(cf) cf[-1])), ",\n",
  "  \"sigma\": ", vec(sigmas), ",\n",
  "  \"gateRaw\": ", mat(lapply(seq_len(kFit), function(i) G[, i])), ",\n",
  "  \"gateBeta0\": ", vec(Gcanon[1, ]), ",\n",
  "  \"gateBeta1\": ", mat(lapply(seq_len(kFit), function(i) Gcanon[-1, i])), ",\n",
  "  \"logLik\": ", num(fit@logLik), ",\n",
  "  \"logLikExactR\": ", num(llExact), ",\n",
  "  \"gateMStepGap\": ", num(gateGap), ",\n",
  "  \"iterations\": ", fit@iter, ",\n",
  "  \"converged\": ", if (isTRUE(fit@converged)) "true" else "false", ",\n",
  "  \"seconds\": ", num(elapsed), "\n",
  "}\n")
writeLines(json, outFile, sep = "")
