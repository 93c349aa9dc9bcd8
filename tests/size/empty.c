/* tests/size/empty.c - the floor of `make size`: what a static musl program costs before any code. */
int main(void) { return 0; }
