/* Placeholder so the fr_video library has a source until src/video is written; deleted then. */
typedef int fr__video_placeholder;
